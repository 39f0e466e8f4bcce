// Stylesheets imported for the bundler (bun build emits them as one CSS file).
declare module "*.css";
