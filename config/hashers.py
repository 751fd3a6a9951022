"""Password hashing for accounts and staff: Argon2id."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's parameters (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane.

    Django's own parameters (100 MiB, 2 passes, 8 lanes) cost as much CPU per
    check as PBKDF2 (0.2 s here), and the licensing login is public: these
    cost a tenth of it. The algorithm is still `argon2`, so a hash with other
    parameters verifies and is rehashed with these at its next login.
    """

    time_cost = 2
    memory_cost = 19 * 1024
    parallelism = 1
