# Varnish in front of a trpc-caching API: caches what the API marks public, keeps per-surrogate-key indexes (vmod
# xkey) and purges by key on `PURGE` with an `xkey-purge` header, as varnishPurger() from trpc-caching/http sends it.
# The backend's host and port are filled in by whoever starts varnishd (example-app/edge/start.ts, test/support/varnish.ts).
vcl 4.1;

import xkey;

backend api {
  .host = "__BACKEND_HOST__";
  .port = "__BACKEND_PORT__";
}

# Only the API's own hosts may purge.
acl purgers {
  "127.0.0.1";
  "::1";
}

sub vcl_recv {
  if (req.method == "PURGE") {
    if (client.ip !~ purgers) {
      return (synth(403, "Forbidden"));
    }
    if (!req.http.xkey-purge) {
      return (synth(400, "xkey-purge header required"));
    }
    # A hard purge: xkey.softpurge would keep the old copy for grace and serve it once more.
    set req.http.n-gone = xkey.purge(req.http.xkey-purge);
    return (synth(200, "Purged " + req.http.n-gone));
  }
  # Everything else follows the built-in VCL: only GET/HEAD are looked up, and requests with
  # Authorization or Cookie go straight to the API (their answers are private anyway).
}

sub vcl_backend_response {
  # The built-in VCL already refuses to store private, no-store and max-age=0 answers; s-maxage sets the TTL.
  # No grace beyond what the API allows: an expired copy is not served while it is fetched again.
  set beresp.grace = 0s;
}

sub vcl_deliver {
  if (obj.hits > 0) {
    set resp.http.X-Edge = "HIT";
  } else {
    set resp.http.X-Edge = "MISS";
  }
}
