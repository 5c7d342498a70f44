"""What runs without Telegram: the Bot API stand-in, the test bed, the demo and its
terminal, the simulated caseload. Nothing in the product imports it (only the demo command)."""
