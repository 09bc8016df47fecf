/* imp-frame.c: placeholder, being written */
