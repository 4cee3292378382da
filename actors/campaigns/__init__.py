"""Campaigns as data shared by every node: the rules' versions and the shards following
them. Above `rules` and `storage`: it stores rules."""
