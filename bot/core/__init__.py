"""The pure core: clinical and scheduling logic over plain data (no Telegram, no database, no clock)."""
