// Package firstboot hands a baked image over to its first boot, and is
// the agent that takes it from there on the Pi.
//
// A bake applies a recipe to an image offline; what needs commands (apt,
// pip, git, shell.run) comes back deferred. The hand-off (Handoff.Steps)
// puts into the image the pibake agent for the image's architecture
// (DetectArch, Agent: a static pibake embedded in the host binary by
// `make build`), the compiled recipe, the secrets first boot needs and an
// enabled pibake-firstboot.service. On the Pi, that unit runs "pibake
// firstboot" (Run): the recipe applied with the local target, exactly as
// a later "pibake apply --target local" would, until the machine is in
// state; then the secrets file is removed and the unit disabled.
//
// Respect keeps Raspberry Pi OS's own first boot from undoing what the
// recipe set: the first-user wizard (userconf-pi) when the recipe makes
// its own user, cloud-init's hostname handling when it sets the hostname.
//
// What it does not do: choose which secrets a Pi keeps (the bake decides:
// see SecretsForDeferred), boot or check the image, or support CPUs other
// than 64-bit ARM, 32-bit ARM (ARMv6 and up) and x86-64 (for tests in a VM).
package firstboot
