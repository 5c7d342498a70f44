"""Check-ins: their conversation, and what a delivery changes (queuing them is bot.due_work)."""
