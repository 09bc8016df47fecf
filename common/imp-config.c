/* imp-config.c: placeholder, being written */
