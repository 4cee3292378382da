"""Rules as data: the rules file and its reloading, the condition language, message
templates, durations, and the context a turn gives them."""
