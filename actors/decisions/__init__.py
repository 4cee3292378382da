"""How offer decisions are made beyond ranking: exploration (actors.decisions.exploration).
The decision log's record is actors.model.decision."""
