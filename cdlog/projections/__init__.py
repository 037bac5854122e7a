"""Projections: views kept up from the log, and the accountability queries over them.

* :mod:`~cdlog.projections.store` - view storage (SQLite; rows and tracking position in one
  transaction); :mod:`~cdlog.projections.shards` a view in two files, half of the cases
  each; :mod:`~cdlog.projections.pgstore` its PostgreSQL twin;
* :mod:`~cdlog.projections.views` - what each view extracts from events, a table per view
  (:mod:`~cdlog.projections.view` the base and its table rows, :mod:`~cdlog.projections.duties`
  the duties view);
* :mod:`~cdlog.projections.projector` - :class:`Projections`: catch up, rebuild, read;
* :mod:`~cdlog.projections.queries` - :class:`Queries`: the oversight questions (docs/REPORTS.md);
  :mod:`~cdlog.projections.questions` - its families of questions, one mixin a module;
* :mod:`~cdlog.projections.models` - the pydantic answers;
* :mod:`~cdlog.projections.answers` - scenario ``expected_answers`` as queries;
* :mod:`~cdlog.projections.responsibility` - the pure responsibility fold over facts.
"""
