"""Everything specific to jira: see docs/design.md#adding-a-tracker."""
