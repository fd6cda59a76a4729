"""Entry points: what a command or a server starts. Nothing imports from here."""
