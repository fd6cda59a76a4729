"""lessonloop's own words for what trackers tell it, parsed from their data: pure, no I/O."""
