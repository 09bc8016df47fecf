/* imp-password.c: placeholder, being written */
