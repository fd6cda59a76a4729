"""Everything specific to github: see docs/design.md#adding-a-tracker."""
