"""How /api/docs/ shows the licensing API: its bearer token as a security scheme, its bodies as JSON."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class LicensingTokenScheme(OpenApiAuthenticationExtension):
    target_class = "licensing.authentication.LicensingTokenAuthentication"
    name = "LicensingToken"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Bearer",  # noqa: S106 - a scheme name, not a secret
            bearer_format="JWT",
        )
        scheme["description"] = (
            "`data.jwt.token` of POST /api/v2/auth/login (with `issueJWT: true`), sent as "
            "`Authorization: Bearer <token>`; it expires at `data.jwt.token_expires`."
        )
        return scheme


class LicensingAutoSchema(AutoSchema):
    def map_parsers(self):
        # The views read any content type as JSON (AnyContentTypeJSONParser, media type */*); JSON is what the
        # console's document shows and what "Try it out" should send.
        return ["application/json"]

    def get_auth(self):
        auths = super().get_auth()
        if getattr(self.view, "token_required", False):
            return [auth for auth in auths if auth]  # no anonymous alternative
        return auths
