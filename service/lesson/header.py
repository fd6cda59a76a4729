"""The review's body without the header lessonloop wrote in it.

The header holds text lessonloop copied from elsewhere: past lessons from the learning log (their
titles, first sentences and links), the incident's timeline and its responders. Read back, a link
there would make a past lesson's review a recipient of this one, and a line shaped like a section
heading would put a stranger's words into this lesson. So the lines lessonloop wrote (as the
review recorded them) are taken out before the body is parsed or searched for links; a line
someone changed is theirs and stays.
"""

from __future__ import annotations

from service.lesson.text import normalise_newlines


def without_header(body: str, header: str | None) -> str:
    """``body`` without each line of ``header`` (compared without surrounding blanks, each line
    once, in one pass); ``body`` itself when no header was recorded."""
    if not header:
        return body
    wanted: dict[str, int] = {}
    for line in normalise_newlines(header).split("\n"):
        if line.strip():
            wanted[line.strip()] = wanted.get(line.strip(), 0) + 1
    kept = []
    for line in normalise_newlines(body).split("\n"):
        stripped = line.strip()
        if wanted.get(stripped, 0) > 0:
            wanted[stripped] -= 1
            continue
        kept.append(line)
    return "\n".join(kept)
