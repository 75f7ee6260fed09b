"""Per-stream codecs: each turns one kind of block content into a payload and back."""
