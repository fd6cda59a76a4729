"""The blameless-language nudge: sentences of a lesson that put a person, not a process, at the
centre, each with a question that turns the attention to the conditions instead.

Precision comes first: a nudge that cries wolf teaches people to ignore it. So a rule fires only
on a shape that is about a person: a failure verb needs a person as its subject ("Bob forgot",
"the on-call ignored", "we failed to"), never a tool ("the deploy tool forgot the flag");
"should have" needs a person too ("the alert should have fired" is a system's design); "fault"
needs a possessive or "at fault" ("fault tolerance" and "a disk fault" are engineering);
judgement words skip their technical senses ("lazy loading", "sloppy quorum"); a negation turns
a finding around ("this was not human error"). Code, links and quoted speech are not read at all
(service/lesson/prose.py). The words are data, one file a language (service/lesson/blame_rules.py).

One module a job, lowest first: ``words`` (a sentence's words), ``phrases`` (phrase lookup),
``vocabulary`` (a language's words as sets), ``grammar`` (who is a person, which word is a
verb's subject, negation), one detector module a form of blame (``causes``, ``judgement``,
``hindsight``, ``failure`` with ``harm``, ``duty`` and ``cleft``; ``patterns`` for the phrases
a language file writes around a person), ``matcher`` (which rule fires first) and ``lint`` (the
call below). bench/blame.py measures the rules on the labelled sets.
"""

from __future__ import annotations

from service.lesson.blame.lint import Finding, find_blame

__all__ = ["Finding", "find_blame"]
