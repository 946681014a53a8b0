"""Scale-out: the Ray Data engine that probe (and later the shard writer) runs on."""
