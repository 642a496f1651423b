"""pavedroad: the work around the Pulumi program that needs no Pulumi engine or cloud credentials."""
