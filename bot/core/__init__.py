"""The pure core: clinical and scheduling logic over plain data.

No Telegram, no database, no clock: callers pass ``now``.
"""
