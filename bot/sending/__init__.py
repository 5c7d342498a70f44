"""Getting messages to Telegram: the outbox queue, the sender that claims and sends its
rows, flood control."""
