"""Telegram handlers: parse, authorise, call the core and storage, render a template."""
