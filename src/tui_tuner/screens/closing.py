"""Work that comes due while the app is quitting does nothing.

Some widgets are mounted after a screen's first frame (the rest of Launch's form, an Evaluate tab's pane on
its first showing), and thread workers hand results back with `call_from_thread`. When the user quits in
between, Textual prunes the screens: widgets mounted from then on are never composed and the ones already
there are on their way out, so a query for them fails and the quit ends in a traceback instead of a clean
exit. Such callbacks check `closing(...)` first, and again after each await.
"""

from __future__ import annotations

from typing import Generic

from textual import events
from textual.dom import DOMNode
from textual.widgets import Select
from textual.widgets._select import SelectType


def closing(node: DOMNode) -> bool:
    """The app has started quitting (`App.exit` was called), or `node` is being removed or gone."""
    # `is_attached` turns false as soon as `App.exit` is called; the screens are pruned (`_pruning`) only
    # later, after the messages already queued (a deferred mount among them) are handled.
    return not node.is_attached or node._pruning or node._closing or node._closed


class QuitSafeSelect(Select[SelectType], Generic[SelectType]):
    """A Select that can be mounted while the app quits.

    Textual's Select sets its value on mount and updates its label widget; a Select mounted while the app
    is quitting never gets that widget composed, and the query for it raised `NoMatches('#label')`.
    """

    def _on_mount(self, event: events.Mount) -> None:
        if closing(self):
            event.prevent_default()  # Select's own mount handler (the base class's) is not run
