// Small, standard-library-only programs for the e2e test images: a static
// pause binary and a builder that writes OCI image layouts without a
// container engine. Its own module so the parent module's build and tests do
// not depend on it. Built by e2e/build/prepare.sh.
module github.com/hybridnode/hybridnode/e2e/images

go 1.26.0
