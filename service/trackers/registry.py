"""Every tracker lessonloop speaks to, reached by name: what is pure about each (its webhook
source). Importing this loads no HTTP stack, so the web and the pure modules may ask it."""

from __future__ import annotations

from service.trackers.github import webhook as github_webhook
from service.trackers.jira import webhook as jira_webhook
from service.trackers.pagerduty import webhook as pagerduty_webhook
from service.trackers.webhook import WebhookSource

SOURCES: dict[str, WebhookSource] = {
    "github": github_webhook.SOURCE,
    "jira": jira_webhook.SOURCE,
    "pagerduty": pagerduty_webhook.SOURCE,
}
