/* imp-error.c: placeholder, being written */
