"""Where the loop acts: which rule selects an incident, that rule's scope, and which items a lesson reaches."""
