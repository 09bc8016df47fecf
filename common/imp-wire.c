/* imp-wire.c: placeholder, being written */
