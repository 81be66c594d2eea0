"""Many gateways, one phase: the coordinator interface, the operator's side and the follower."""
