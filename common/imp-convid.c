/* imp-convid.c: placeholder, being written */
