// An OpenID Connect provider for tests: oidc-provider (OpenID Certified) on loopback, with
// one confidential client and a few accounts whose `groups` the tests choose. Its
// development login form takes any account name (the password is not checked), then asks
// for consent. Settings come from the environment, set by plba-testkit's `oidc` module.
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT);
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS);

const configuration = {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: [process.env.OIDC_REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email"],
    groups: ["groups"],
  },
  scopes: ["openid", "profile", "email", "groups"],
  // The claims of the scopes asked for go into the ID token itself.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ["plba-test-provider-cookie-key"] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, sub) {
    const account = accounts[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          preferred_username: sub,
          name: sub,
          email: `${sub}@example.test`,
          groups: account.groups,
        };
      },
    };
  },
};

const provider = new Provider(process.env.OIDC_ISSUER, configuration);
provider.listen(port, "127.0.0.1", () => {
  console.log(`listening on ${port}`);
});
