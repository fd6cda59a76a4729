"""The RQ side of lessonloop: jobs that act on deliveries, and the sweep that finds lost ones."""
