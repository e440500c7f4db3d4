// cbnn-train-inat: ResNet-50/101/152 on iNaturalist 2017/2018 (annotation JSON + image root) with
// a class-balanced loss (command line: train/image_train_cli.h; training: train/image_trainer.h).
#include "train/image_train_cli.h"

int main(int argc, char** argv) {
    return cbnn::train::image_train_main(cbnn::train::ImageDataset::inat, argc, argv);
}
