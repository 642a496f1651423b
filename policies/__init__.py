"""The CrossGuard policy pack (`pulumi preview --policy-pack policies`); rules live in
`paved_road_policies`, so `pavedroad plan` and `pavedroad check` run the same rules offline."""
