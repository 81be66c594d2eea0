"""Statuses in and out: a path finder over the policy graph, the statuses real venues and
protocols publish for a phase (derived from its data), inbound statuses mapped to a target phase
and trigger path, and a per-scope status document rendered for each venue."""
