/* imp-token.c: placeholder, being written */
