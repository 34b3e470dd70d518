pub(super) fn emit(_: &super::Package<'_>) -> Vec<super::PackageFile> {
    unimplemented!()
}
