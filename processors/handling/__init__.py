"""What both clocks share around the core: one record start to finish, the serializer, dead letters."""
