"""Everything specific to pagerduty: see docs/design.md#adding-a-tracker."""
