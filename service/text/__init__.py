"""Text between trackers: reading each markup into one allowlist, writing it inert, and the marker."""
