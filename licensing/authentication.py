"""The licensing login's bearer token as a DRF authentication, read only when a view asks for it."""

from rest_framework.authentication import BaseAuthentication

from licensing.errors import InvalidToken
from licensing.tokens import token_account


class LicensingTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` from POST /api/v2/auth/login: the account is `request.auth`.

    No header: no account (`request.auth` is None). A header that is not a
    valid, unexpired token of an active account, issued since its password
    was last set, raises InvalidToken. The
    licensing views authenticate lazily (LicensingAPIView.perform_authentication),
    so an activation by key never reads the token.
    """

    def authenticate(self, request):
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken()
        account = token_account(token=token)
        if account is None:
            raise InvalidToken()
        return (None, account)
