"""The learning log as a whole: its figures, exports, imports and the past lessons like a new one."""
