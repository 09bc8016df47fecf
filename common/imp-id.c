/* imp-id.c: placeholder, being written */
