// Stylesheets imported for the bundler (bun build emits them as one CSS file).
declare module "*.css";
// The URL of the Rust crypto's WebAssembly in web/dist/assets (scripts/build-web.ts defines it).
declare const HS_CRYPTO_WASM_URL: string;
