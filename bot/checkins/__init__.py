"""Check-ins: their conversation, the due work that queues them, what delivery changes."""
