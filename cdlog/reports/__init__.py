"""Reports a person reads: Markdown, JSON and self-contained HTML with an SVG timeline.

* :mod:`cdlog.reports.build` - the report models and what they rest on; :mod:`~.scope` - the
  scoped verification of the events a report cites;
* :mod:`cdlog.reports.layout` - sections, tables and citations; :mod:`~.markdown`, :mod:`~.html`
  and :mod:`~.timeline` render them; :mod:`~.render` - ``render``, ``write``.
"""
