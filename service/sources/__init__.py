"""The webhook sources: one signature check and one pure parser per tracker."""

from service.sources import github, jira, pagerduty
from service.sources.base import WebhookSource

SOURCES: dict[str, WebhookSource] = {
    "github": github.SOURCE,
    "jira": jira.SOURCE,
    "pagerduty": pagerduty.SOURCE,
}
