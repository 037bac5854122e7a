"""The oversight questions, one mixin per family; cdlog.projections.queries.Queries joins them."""
